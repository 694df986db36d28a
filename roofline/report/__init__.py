"""Reports: terminal tables, JSON/CSV files, and the HTML report."""
