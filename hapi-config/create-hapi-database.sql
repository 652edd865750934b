-- Run once by the postgres image on first start: HAPI FHIR keeps its data in its own database.
create database brain_registry_hapi;
