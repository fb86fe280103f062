// The venue form's map: a pin at the typed latitude and longitude, to be dragged (or the map clicked) to
// the venue's exact position, which then goes back into the two inputs. Without JavaScript, or without
// Leaflet, the map stays hidden and the coordinates are typed; the form works the same either way.
(function () {
  "use strict";
  const box = document.getElementById("site-map");
  const lat = document.getElementById("latitude");
  const lon = document.getElementById("longitude");
  if (!box || !lat || !lon || !window.L) return;

  const CITY_ZOOM = 12; // a gazetteer place is a city centre: show the city to find the venue in
  const VENUE_ZOOM = 17;
  let map = null;
  let pin = null;

  function number(input) {
    const text = input.value.trim();
    const value = Number(text);
    return text === "" || !Number.isFinite(value) ? null : value;
  }

  function typed() {
    const a = number(lat);
    const b = number(lon);
    if (a === null || b === null || Math.abs(a) > 90 || Math.abs(b) > 180) return null;
    return L.latLng(a, b);
  }

  function write(at) {
    const p = at.wrap(); // a click on a wrapped copy of the world can be east of 180°
    lat.value = p.lat.toFixed(6); // six decimals: about 0.1 m
    lon.value = p.lng.toFixed(6);
  }

  function show(at, zoom) {
    if (map) {
      pin.setLatLng(at);
      if (!map.getBounds().contains(at)) map.setView(at, Math.max(map.getZoom(), zoom));
      return;
    }
    box.hidden = false;
    map = L.map(box).setView(at, zoom);
    // Tiles are decoration, as on the board: the pin and the inputs work without them.
    L.tileLayer(box.dataset.tileUrl, { attribution: box.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
    pin = L.marker(at, { draggable: true, autoPan: true, title: "Venue position: drag to move" }).addTo(map);
    pin.on("dragend", () => write(pin.getLatLng()));
    map.on("click", (event) => {
      pin.setLatLng(event.latlng);
      write(event.latlng);
    });
  }

  function follow() {
    const at = typed();
    if (at) show(at, VENUE_ZOOM);
  }

  const start = typed();
  if (start) show(start, document.getElementById("lookup-notice") ? CITY_ZOOM : VENUE_ZOOM);
  lat.addEventListener("change", follow);
  lon.addEventListener("change", follow);
})();
