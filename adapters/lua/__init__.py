"""Orthanc-compatible Lua scripting, on lupa: the interpreter state (engine) and the functions
Orthanc gives scripts (library)."""
