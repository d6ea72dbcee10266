"""Citizen snapshot 随手拍: public mobile pages (/s) and a public API (/api/v1/public) — report a problem with
photos and a location, follow it by tracking code, rate it after closure. No login; rate-limited; the public
sees a case only through `gridgov.domains.cases.public.public_view`.
"""
