"""drip: patient-education messages by email and SMS, timed to each patient's infusions."""
