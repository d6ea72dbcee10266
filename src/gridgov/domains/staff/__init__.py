"""Grid staff (网格力量): assignments to grids, personnel filings (报备), the staffing ratio, visit coverage."""
