"""The dashboard: a SolaraViz app (app.py), its charts (charts.py) and the server (server.py)."""
