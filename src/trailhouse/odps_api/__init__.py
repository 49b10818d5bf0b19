"""The MaxCompute REST endpoint under `/api`: what PyODPS speaks, over the warehouse's catalog.

An edge like `api/`: it checks PyODPS's signature (`iam/odps_signatures.py`), asks the warehouse
services what the caller may see, answers in the XML and JSON shapes PyODPS parses, and audits
each catalog call as serviceName MaxCompute. Wire names and codes stay in this package.
"""
