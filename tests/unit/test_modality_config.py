"""Normalising and validating modality and peer definitions, as Orthanc 1.11 does."""

from __future__ import annotations

import pytest

from domain.modality_config import (
    ConfigProblem,
    RemoteNodeConfigError,
    normalise_modality,
    normalise_peer,
    public_peer,
)

# GET /modalities/{id}/configuration of ["ARRAET", "127.0.0.1", 104] on a real Orthanc.
ORTHANC_ARRAY_FORM = {
    "AET": "ARRAET",
    "AllowEcho": True,
    "AllowEventReport": True,
    "AllowFind": True,
    "AllowFindWorklist": True,
    "AllowGet": True,
    "AllowMove": True,
    "AllowNAction": True,
    "AllowStore": True,
    "AllowTranscoding": True,
    "Host": "127.0.0.1",
    "LocalAet": "",
    "Manufacturer": "Generic",
    "Port": 104,
    "Timeout": 0,
    "UseDicomTls": False,
}


def test_array_form_gets_every_key_with_orthancs_defaults() -> None:
    configuration = normalise_modality(["ARRAET", "127.0.0.1", 104])
    assert configuration == ORTHANC_ARRAY_FORM
    assert list(configuration) == sorted(configuration)


def test_array_form_with_manufacturer_and_string_port() -> None:
    configuration = normalise_modality(["A4", "localhost", "105", "GE"])
    assert (configuration["Port"], configuration["Manufacturer"]) == (105, "GE")


def test_object_form_keeps_given_options() -> None:
    configuration = normalise_modality(
        {
            "AET": "OBJ",
            "Host": "h",
            "Port": 106,
            "AllowStore": False,
            "LocalAet": "ME",
            "Timeout": 7,
            "Unknown": 1,
        }
    )
    assert configuration == {
        **ORTHANC_ARRAY_FORM,
        "AET": "OBJ",
        "Host": "h",
        "Port": 106,
        "AllowStore": False,
        "LocalAet": "ME",
        "Timeout": 7,
    }


def test_storage_commitment_sets_both_n_services() -> None:
    configuration = normalise_modality(
        {"AET": "A", "Host": "h", "Port": 1, "AllowStorageCommitment": False}
    )
    assert configuration["AllowNAction"] is configuration["AllowEventReport"] is False


def test_obsolete_manufacturer_maps_like_orthanc() -> None:
    assert normalise_modality(["A", "h", 1, "SyngoVia"])["Manufacturer"] == (
        "GenericNoWildcardInDates"
    )


@pytest.mark.parametrize(
    ("value", "problem", "message"),
    [
        ({"AET": "A", "Host": "h", "Port": 70000}, ConfigProblem.OUT_OF_RANGE, "[1..65534]"),
        ({"AET": "A", "Host": "h", "Port": 0}, ConfigProblem.OUT_OF_RANGE, "[1..65534]"),
        ({"AET": "A", "Host": "h", "Port": "abc"}, ConfigProblem.BAD_FORMAT, "Port"),
        ({"AET": "A", "Host": "h", "Port": True}, ConfigProblem.BAD_FORMAT, "Port"),
        ({"AET": "A", "Host": "h"}, ConfigProblem.BAD_FORMAT, "Port"),
        ({"Host": "h", "Port": 104}, ConfigProblem.BAD_FORMAT, "field: AET"),
        ({"AET": "", "Host": "h", "Port": 104}, ConfigProblem.BAD_FORMAT, "field: AET"),
        ({"AET": "A", "Port": 104}, ConfigProblem.BAD_FORMAT, "field: Host"),
        ({"AET": "A" * 17, "Host": "h", "Port": 104}, ConfigProblem.OUT_OF_RANGE, "16"),
        (
            {"AET": "A", "Host": "h", "Port": 1, "Manufacturer": "Nope"},
            ConfigProblem.OUT_OF_RANGE,
            "manufacturer",
        ),
        (
            {"AET": "A", "Host": "h", "Port": 1, "AllowStore": "yes"},
            ConfigProblem.BAD_FORMAT,
            "AllowStore",
        ),
        (
            {"AET": "A", "Host": "h", "Port": 1, "Timeout": -1},
            ConfigProblem.OUT_OF_RANGE,
            "Timeout",
        ),
        (["A", "h"], ConfigProblem.BAD_FORMAT, "array"),
        ("A h 104", ConfigProblem.BAD_FORMAT, "array"),
    ],
)
def test_invalid_modalities_are_refused_with_a_reason(
    value: object, problem: ConfigProblem, message: str
) -> None:
    with pytest.raises(RemoteNodeConfigError) as caught:
        normalise_modality(value)
    assert caught.value.problem is problem
    assert message in str(caught.value)


def test_peer_array_forms() -> None:
    assert normalise_peer(["http://h:8042"]) == {
        "HttpHeaders": {},
        "Pkcs11": False,
        "Timeout": 0,
        "Url": "http://h:8042/",
    }
    with_user = normalise_peer(["http://h:8042/", "user", "pw"])
    assert (with_user["Username"], with_user["Password"]) == ("user", "pw")


def test_public_peer_hides_password_and_header_values() -> None:
    stored = normalise_peer(
        {
            "Url": "http://x:1/",
            "Username": "u",
            "Password": "p",
            "HttpHeaders": {"X-Tok": "secret"},
            "Timeout": 3,
        }
    )
    assert stored["Password"] == "p" and stored["HttpHeaders"] == {"X-Tok": "secret"}
    # GET /peers/p3/configuration on a real Orthanc for the same definition
    assert public_peer(stored) == {
        "HttpHeaders": ["X-Tok"],
        "Password": None,
        "Pkcs11": False,
        "Timeout": 3,
        "Url": "http://x:1/",
        "Username": "u",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Username": "a"}, "Empty URL"),
        ({"Url": 3}, "Url"),
        ({"Url": "ftp://h/"}, "http"),
        ({"Url": "http://h/", "HttpHeaders": {"A": 1}}, "HttpHeaders"),
        ({"Url": "http://h/", "Password": "p"}, "Username"),
        (["http://h/", "user"], "array"),
    ],
)
def test_invalid_peers_are_refused(value: object, message: str) -> None:
    with pytest.raises(RemoteNodeConfigError, match=None) as caught:
        normalise_peer(value)
    assert message in str(caught.value)
