"""The built-in formula functions, by family; importing this registers all of them."""

from tessera.formula.functions import dates, lists, logic, numbers, text
from tessera.formula.functions.registry import ArgError, Example, Function, all_functions, get, register, sig

__all__ = [
    "ArgError", "Example", "Function", "all_functions", "dates", "get", "lists", "logic", "numbers", "register",
    "sig", "text",
]
