"""Open311 GeoReport v2 server at /open311/v2/: discovery, services (matter types) with their definitions,
service requests (post with an api_key, list, get, token lookup), in JSON and XML, errors in the spec's format.

A thin façade over intake (`intake.service.submit`) and the public view of cases (`cases.public.public_view`):
it shows what the public may see of cases from public channels, never contact data or hotline cases.
"""
