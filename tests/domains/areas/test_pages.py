def test_home_page_lists_the_tree_down_to_communities(client, tree):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for name in ("金水区", "经八路街道", "花园路街道", "经八路北社区", "花园路南社区"):
        assert name in html
    assert "第1网格" not in html  # grids are counted, not listed
    assert "4 个网格" in html and "16 个网格" in html
    assert 'href="/docs"' in html


def test_home_page_without_areas_explains_how_to_import(client):
    html = client.get("/").text
    assert "No areas yet" in html
    assert "gridgov areas import" in html
    assert 'href="/docs"' in html
