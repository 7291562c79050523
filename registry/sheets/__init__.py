"""Spreadsheets in and out: importing an inventory of systems from CSV or XLSX, and the
lists the web shows exported as CSV or XLSX with formula injection neutralised."""
