"""Devices in: the sample model, the device registry and the MQTT -> Kafka gateway.

Nothing enters Vigil except through here: every sample is attributed to the patient enrolled
on the sending device at the sample's time, validated, and either produced to Kafka or
dead-lettered with a reason.
"""

__all__: list[str] = []
