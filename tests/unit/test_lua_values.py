"""Values between Lua and Python as Orthanc's DumpJson and ParseJson convert them
(adapters.lua.values), and the engine's shared state and limits, without a server."""

from __future__ import annotations

import pytest

from adapters.lua.engine import Caller, LuaEngine, LuaError
from adapters.lua.values import to_lua, to_python

ADMIN = Caller(user="admin", role="admin")


@pytest.fixture
def engine() -> LuaEngine:
    return LuaEngine(max_instructions=1_000_000, max_memory_bytes=32 * 1024 * 1024)


@pytest.mark.parametrize(
    ("source", "plain", "as_strings"),
    [
        ("{a = 1, b = {1, 2.5}}", {"a": 1, "b": [1, 2.5]}, {"a": "1", "b": ["1", "2.5"]}),
        ('{[1] = "a", [3] = "c"}', {"1": "a", "3": "c"}, {"1": "a", "3": "c"}),
        ("{}", [], []),
        ("{x = {}}", {"x": []}, {"x": []}),
        ("2.0", 2, "2.0"),
        ("true", True, True),
    ],
)
def test_lua_values_as_json(
    engine: LuaEngine, source: str, plain: object, as_strings: object
) -> None:
    value = engine.runtime.eval(source.encode())
    assert to_python(value) == plain
    assert to_python(value, keep_strings=True) == as_strings


def test_json_values_in_lua(engine: LuaEngine) -> None:
    table = to_lua(engine.runtime, {"x": [1, "é", {"y": None}], "z": "t"})
    assert to_python(table) == {"x": [1, "é", []], "z": "t"}


def test_state_is_kept_and_a_runaway_call_is_stopped(engine: LuaEngine) -> None:
    assert engine.run("counter = 1", ADMIN) == ""
    with pytest.raises(LuaError, match="past its limit of 1000000 instructions"):
        engine.run("while true do counter = counter + 1 end", ADMIN)
    with pytest.raises(LuaError, match="memory limit of 32 MB"):
        engine.run('local s = "x" while true do s = s .. s end', ADMIN)
    assert engine.run("print(counter > 1)", ADMIN) == "true\n"
    engine.run("function Twice(n) return 2 * n end", ADMIN)
    assert engine.call("Twice", 21, caller=ADMIN) == 42
    assert engine.call("Undefined", caller=ADMIN) is None
