"""What the programme delivers: partner exports and the KPI dashboard."""
