"""Residents, households and their protected personal data (人口信息)."""
