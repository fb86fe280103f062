"""Where a feed item is: at its own coordinates, in whole countries, or at a place its text names.

The rule it keeps: an item's own coordinates always win. An item with a geometry is placed at its
representative point, and its country is the one at that point (countries.country_at), never the
feed's: an earthquake in Taiwan from a feed registered for the United States is in Taiwan, and at sea
it is in no country. The feed's country only helps tell apart places of one name in text ("Paris" in
a US feed). A travel advisory is placed in its countries and at no point (located_by "country"); one
whose country is not recognised is left unplaced rather than placed by the words of its title.
Pure: nothing here reads or writes the database.
"""

from dataclasses import dataclass

from intel.domain import places
from intel.domain.countries import country_at
from intel.domain.gazetteer import country_name

MAX_PLACE_NAME = 200  # the FeedItem.place_name column


@dataclass(frozen=True)
class Placement:
    """An item's point (if any), how it was found, the place's name and the countries it lies in."""

    latitude: float | None = None
    longitude: float | None = None
    located_by: str | None = None  # "feed" (its coordinates), "gazetteer" (its text), "country", or None
    place_name: str = ""
    countries: tuple[str, ...] = ()
    timezone: str | None = None  # the gazetteer place's, when placed from the text


def place(parsed, country_hint: str | None = None) -> Placement:
    """Where a parsed item is (see the module's rule); `country_hint` is the feed's country."""
    advisory = getattr(parsed, "travel_advisory", None)
    if advisory and advisory["countries"]:
        codes = tuple(advisory["countries"])
        name = advisory["country_name"] or ", ".join(country_name(code) for code in codes)
        return Placement(located_by="country", place_name=name[:MAX_PLACE_NAME], countries=codes)
    if parsed.geometry:
        latitude, longitude = representative_point(parsed.geometry)
        country = country_at(latitude, longitude)
        return Placement(latitude, longitude, "feed", countries=(country,) if country else ())
    if advisory:
        return Placement()
    found = places.place_from_text(f"{parsed.title}. {parsed.summary_text}", country_hint=country_hint)
    if found is None:
        return Placement()
    return Placement(
        found.latitude, found.longitude, "gazetteer", found.name, (found.country_code,), found.timezone or None
    )


def representative_point(geometry: dict) -> tuple[float, float]:
    """One point for an item's geometry: itself, or the middle of a line, area or box, across 180° too."""
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind == "point":
        return tuple(coordinates)
    if kind == "box":
        south, west, north, east = coordinates
        east = east if west <= east else east + 360  # west > east: the box crosses 180°
        return (south + north) / 2, _wrap((west + east) / 2)
    points = (
        coordinates[:-1]
        if kind == "polygon" and len(coordinates) > 3 and coordinates[0] == coordinates[-1]
        else coordinates
    )
    # Longitudes taken on the side of the first point: the middle of a Fiji warning area across 180° is
    # near Fiji, not at 0° in the Gulf of Guinea.
    first = points[0][1]
    longitudes = [first + _wrap(p[1] - first) for p in points]
    return sum(p[0] for p in points) / len(points), _wrap(sum(longitudes) / len(longitudes))


def _wrap(longitude: float) -> float:
    return (longitude + 180.0) % 360.0 - 180.0 if not -180.0 <= longitude <= 180.0 else longitude
