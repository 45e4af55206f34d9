"""`type: location`: a pin on the map, optionally named; also a template header parameter."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from server.payloads.base import NonEmpty, StrictModel
from whatsapp.message_rules import LATITUDE, LONGITUDE

Latitude = Annotated[float, Field(ge=LATITUDE[0], le=LATITUDE[1], allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=LONGITUDE[0], le=LONGITUDE[1], allow_inf_nan=False)]


class Location(StrictModel):
    """Meta's `location` object: degrees as JSON numbers, name and address as shown."""

    latitude: Latitude
    longitude: Longitude
    name: NonEmpty | None = None
    address: NonEmpty | None = None
