"""The kiosk: a full-screen page of recognised signs on loopback, fed live from the daemon's
event socket (`signd kiosk`). The page and everything it needs ship in `static/`."""
