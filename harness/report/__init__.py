"""Everything that turns records and fit results into tables, figures and the HTML report.

``analysis``: the questions a report asks beyond the main fit (functional forms, extrapolation);
``pipeline``: loading inputs (run table, fit), fitting for a report, the quickstart's last step;
``html``: the self-contained HTML page.
"""
