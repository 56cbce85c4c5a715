"""DICOM networking: the SCU (scu.py) and the SCP."""
