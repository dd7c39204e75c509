"""Helpers to import the user authentication service's flat modules."""
import importlib
import sys

from conftest import REPO

SERVICE = REPO / "user_auth_service"


def service_module(name: str):
    """Import a module of `user_auth_service/` by its bare name."""
    if str(SERVICE) not in sys.path:
        sys.path.insert(0, str(SERVICE))
    return importlib.import_module(name)
