"""The staff pages: sign in, the Today page, patients, enroll, change a series.

Server-rendered Django views over the enrollment service (drip/enrollment/service.py), which
stays the one validator and the one writer; htmx only for search-as-you-type.
"""
