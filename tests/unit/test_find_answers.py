"""C-FIND answers as Orthanc 1.10.1 writes them: in DefaultEncoding whatever the stored files'
character set, characters it cannot hold dropped (captured: `Gżegżółka^Łucja` answered as
`Geg\\xf3ka^ucja` in ISO_IR 100), the query's level echoed as written."""

from __future__ import annotations

from pydicom import Dataset

from adapters.dicom.find import answer_dataset, parse_query
from domain.dicom_text import Encoding, representable
from projections.hierarchy.matching import Match


def query(level: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.PatientName = ""
    ds.PatientID = "P*"
    return ds


def test_answers_are_in_the_default_encoding_without_what_it_cannot_hold() -> None:
    parsed = parse_query(query("STUDY"))
    match = Match("id", {"PatientName": "Gżegżółka^Łucja", "PatientID": "P22L2"})
    latin1 = answer_dataset(parsed, match, "ME", Encoding.LATIN1)
    assert latin1.SpecificCharacterSet == "ISO_IR 100"
    assert str(latin1.PatientName) == "Gegóka^ucja"
    utf8 = answer_dataset(parsed, match, "ME", Encoding.UTF8)
    assert (utf8.SpecificCharacterSet, str(utf8.PatientName)) == ("ISO_IR 192", "Gżegżółka^Łucja")
    latin2 = answer_dataset(parsed, match, "ME", Encoding.LATIN2)
    assert (latin2.SpecificCharacterSet, str(latin2.PatientName)) == (
        "ISO_IR 101",
        "Gżegżółka^Łucja",
    )


def test_the_level_is_echoed_as_the_peer_wrote_it() -> None:
    answer = answer_dataset(parse_query(query("studies")), Match("id", {}), "ME")
    assert answer.QueryRetrieveLevel == "studies"


# SCSRUSS's patient name: Cyrillic letters mixed with Latin look-alikes ("ce", "yp").
LUXEMBOURG = "\u041b\u044e\u043a" + "ce" + "\u043c\u0431" + "yp" + "\u0433"


def test_representable_drops_only_what_the_encoding_lacks() -> None:
    assert representable(LUXEMBOURG, Encoding.LATIN1) == "ceyp"
    assert representable(LUXEMBOURG, Encoding.CYRILLIC) == LUXEMBOURG
    assert representable("Müller", Encoding.ASCII) == "Mller"
    assert representable("Müller", Encoding.WINDOWS1251) == "Mller"  # no term: plain ASCII
