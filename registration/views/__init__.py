"""Blueprints: public pages (public.py) and the staff dashboard (staff.py)."""
