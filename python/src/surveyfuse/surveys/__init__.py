"""Putting two surveys on one footing: harmonise their vocabularies, rake the donor to the recipient's
margins, diagnose common support, and calibrate draws to known recipient totals."""
