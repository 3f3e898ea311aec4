"""The dashboard: the page (app.py), its market (market.py), charts (charts.py), server."""
