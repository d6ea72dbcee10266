"""AI triage (智能分拣): a text classifier a district trains on its own history, duplicate detection, and
hotspot (高频事项) discovery. See docs/triage.md."""
