"""Duty (值班): 7×24 rosters per centre, who is on duty now, shift handovers, notifications to the on-duty."""
