"""The registration service: public pages where people register for programmes, feeding the CRM."""
