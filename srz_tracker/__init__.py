"""srz-tracker: deadlines and email reminders for the dual-certification (CATL + CMA) plan."""

__version__ = "0.1.0"
