/*
 * gridgov report forms on phones (citizen snapshot 随手拍, the grid worker's report): progressive enhancement
 * of a plain HTML form that posts as multipart/form-data. The page holds no inline script and this file holds
 * no user-facing text: everything comes from data attributes, translated by the server.
 *
 * Markup contract (everything but the form is optional):
 *   form[data-report-form]           the form. data-form-id names it (idempotency key slot); data-msg-<name>
 *                                    carries the messages: location-missing, point (%(lng)s %(lat)s), outside,
 *                                    gps-locating, gps-denied, gps-unavailable, map-failed, not-photo (%(name)s),
 *                                    too-large (%(name)s), too-many (%(n)s), remove-photo, photo-count
 *                                    (%(n)s %(max)s), sending.
 *     [data-location-required]       refuse to submit without a point.
 *     [data-reset-key]               the server issued a new idempotency key: forget the stored one.
 *   input[name=lng|lat|crs]          hidden location fields, filled in WGS84 (crs = "wgs84").
 *   [data-gps]                       button: take the phone's position (navigator.geolocation, WGS84).
 *   [data-map]                       map container (Leaflet, /static/vendor/leaflet). data-boundaries: a GeoJSON
 *                                    URL drawn as the background (no base tiles needed, works offline);
 *                                    data-tiles: an optional tile URL template ({z}/{x}/{y}; WGS84 Web Mercator
 *                                    tiles only, not GCJ-02 ones). [data-map-hint] is shown with the map.
 *   [data-location-text]             shows the chosen point; [data-location-error] shows location problems.
 *   input[type=file][data-photos]    photo inputs (several allowed: camera and album); data-max (photos in all),
 *                                    data-max-bytes (per photo). [data-previews] shows them; [data-photo-count],
 *                                    [data-photo-error].
 *   input[name=idempotency_key]      the server's random key, kept in sessionStorage until a success page
 *                                    ([data-report-done][data-used-key][data-form-id]) marks it used, so a resend
 *                                    after a lost answer (even after reloading the form) never makes a second case.
 *   [data-submit]                    the submit button, disabled while sending.
 * The form fires "report:location" (detail {lng, lat, source: "gps" | "map"}) when a point is chosen.
 * window.GridgovReport.enhance(form) enhances a form added later; .inside(geojson, lng, lat) tests a point.
 */
(function () {
  "use strict";

  var STORE = "gridgov.report.";

  function all(root, selector) {
    return Array.prototype.slice.call(root.querySelectorAll(selector));
  }

  function message(form, name) {
    return form.getAttribute("data-msg-" + name) || "";
  }

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, name) {
      return values[name] === undefined ? match : String(values[name]);
    });
  }

  function say(element, text) {
    if (!element) {
      return;
    }
    element.textContent = text || "";
    element.hidden = !text;
  }

  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null; // private mode or storage disabled: the key in the page still protects one page's resends
    }
  }

  function randomKey() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    var text = "c";
    for (var i = 0; i < bytes.length; i++) {
      text += ("0" + bytes[i].toString(16)).slice(-2);
    }
    return text;
  }

  // --- point in the district's boundaries (a warning only: the server decides) ----------------------------------

  function inRing(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
    return inside;
  }

  function inPolygon(rings, x, y) {
    if (!rings.length || !inRing(rings[0], x, y)) {
      return false;
    }
    for (var k = 1; k < rings.length; k++) {
      if (inRing(rings[k], x, y)) {
        return false; // in a hole
      }
    }
    return true;
  }

  function inside(collection, x, y) {
    return (collection.features || []).some(function (feature) {
      var geometry = feature.geometry;
      if (!geometry) {
        return false;
      }
      if (geometry.type === "Polygon") {
        return inPolygon(geometry.coordinates, x, y);
      }
      if (geometry.type === "MultiPolygon") {
        return geometry.coordinates.some(function (polygon) {
          return inPolygon(polygon, x, y);
        });
      }
      return false;
    });
  }

  // --- (d) a stable idempotency key per form -----------------------------------------------------------------------

  function keepKey(form) {
    var input = form.querySelector("input[name=idempotency_key]");
    var store = storage();
    if (!input || !store) {
      return;
    }
    var slot = STORE + (form.getAttribute("data-form-id") || "form") + ".key";
    if (form.hasAttribute("data-reset-key")) {
      store.removeItem(slot);
    } else {
      var pending = store.getItem(slot);
      if (pending && !store.getItem(STORE + "used." + pending)) {
        input.value = pending; // a report sent before whose answer never came: resend it under the same key
      }
    }
    function renew() {
      // Back from a success page: this form's key made a case already, so a new report needs a new key.
      if (store.getItem(STORE + "used." + input.value)) {
        input.value = randomKey();
        store.removeItem(slot);
      }
    }
    renew();
    window.addEventListener("pageshow", renew);
    form.addEventListener("submit", function () {
      store.setItem(slot, input.value);
    });
  }

  function markDone(element) {
    var store = storage();
    var key = element.getAttribute("data-used-key");
    if (store && key) {
      store.setItem(STORE + "used." + key, "1");
      store.removeItem(STORE + (element.getAttribute("data-form-id") || "form") + ".key");
    }
  }

  // --- (a) phone position and (b) map pick ---------------------------------------------------------------------------

  function locationWidget(form) {
    var lng = form.querySelector("input[name=lng]");
    var lat = form.querySelector("input[name=lat]");
    var crs = form.querySelector("input[name=crs]");
    if (!lng || !lat) {
      return null;
    }
    var text = form.querySelector("[data-location-text]");
    var error = form.querySelector("[data-location-error]");
    var gps = form.querySelector("[data-gps]");
    var mapElement = form.querySelector("[data-map]");
    var map = null;
    var marker = null;
    var areas = null;

    function chosen() {
      return lng.value !== "" && lat.value !== "" && isFinite(Number(lng.value)) && isFinite(Number(lat.value));
    }

    function show() {
      if (!chosen()) {
        return;
      }
      var x = Number(lng.value), y = Number(lat.value);
      if (text) {
        text.textContent = fill(message(form, "point"), { lng: x.toFixed(6), lat: y.toFixed(6) });
        text.classList.add("set");
      }
      if (map) {
        if (marker) {
          marker.setLatLng([y, x]);
        } else {
          marker = window.L.circleMarker([y, x], {
            radius: 9, color: "#fff", weight: 3, fillColor: "#b42318", fillOpacity: 1, interactive: false
          }).addTo(map);
        }
      }
      say(error, areas && !inside(areas, x, y) ? message(form, "outside") : "");
    }

    function set(x, y, source) {
      lng.value = x.toFixed(7);
      lat.value = y.toFixed(7);
      if (crs) {
        crs.value = "wgs84";
      }
      show();
      form.dispatchEvent(new CustomEvent("report:location", { detail: { lng: x, lat: y, source: source } }));
    }

    if (gps) {
      gps.hidden = false;
      gps.addEventListener("click", function () {
        if (!navigator.geolocation) {
          say(error, message(form, "gps-unavailable"));
          return;
        }
        gps.disabled = true;
        say(error, "");
        if (text) {
          text.textContent = message(form, "gps-locating");
        }
        navigator.geolocation.getCurrentPosition(
          function (position) {
            gps.disabled = false;
            set(position.coords.longitude, position.coords.latitude, "gps");
            if (map) {
              map.setView([position.coords.latitude, position.coords.longitude], Math.max(map.getZoom() || 0, 16));
            }
          },
          function (failure) {
            gps.disabled = false;
            if (text && !chosen()) {
              text.textContent = "";
            }
            show();
            say(error, message(form, failure.code === 1 ? "gps-denied" : "gps-unavailable"));
          },
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 }
        );
      });
    }

    if (mapElement && window.L) {
      mapElement.hidden = false;
      var hint = form.querySelector("[data-map-hint]");
      if (hint) {
        hint.hidden = false;
      }
      map = window.L.map(mapElement, { attributionControl: false, zoomSnap: 0.25 });
      var tiles = mapElement.getAttribute("data-tiles");
      if (tiles) {
        window.L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
      }
      var ready = function () {
        map.on("click", function (event) {
          set(event.latlng.lng, event.latlng.lat, "map");
        });
        show();
      };
      var url = mapElement.getAttribute("data-boundaries");
      if (!url) {
        map.setView([chosen() ? Number(lat.value) : 35, chosen() ? Number(lng.value) : 105], chosen() ? 16 : 4);
        ready();
      } else {
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json, application/json" } })
          .then(function (response) {
            if (!response.ok) {
              throw new Error("boundaries: HTTP " + response.status);
            }
            return response.json();
          })
          .then(function (collection) {
            areas = collection;
            var layer = window.L.geoJSON(collection, {
              style: { color: "#0b6bcb", weight: 1.5, fillColor: "#dbe9f8", fillOpacity: 0.35 },
              onEachFeature: function (feature, shape) {
                var name = feature.properties && feature.properties.name;
                if (name) {
                  shape.bindTooltip(String(name), { permanent: true, direction: "center", className: "area-label" });
                }
              }
            }).addTo(map);
            var bounds = layer.getBounds();
            if (bounds.isValid()) {
              map.fitBounds(bounds, { padding: [6, 6] });
            } else {
              map.setView([35, 105], 4);
            }
            ready();
          })
          .catch(function () {
            say(error, message(form, "map-failed"));
            map.setView([35, 105], 4);
            ready();
          });
      }
    } else {
      show();
    }

    return {
      required: form.hasAttribute("data-location-required"),
      chosen: chosen,
      refuse: function () {
        say(error, message(form, "location-missing"));
        (mapElement && !mapElement.hidden ? mapElement : error || form).scrollIntoView({ block: "center" });
      }
    };
  }

  // --- (c) photo previews ------------------------------------------------------------------------------------------------

  function photoWidget(form) {
    var inputs = all(form, "input[type=file][data-photos]");
    if (!inputs.length) {
      return;
    }
    var box = form.querySelector("[data-previews]");
    var count = form.querySelector("[data-photo-count]");
    var error = form.querySelector("[data-photo-error]");
    var max = Number(inputs[0].getAttribute("data-max")) || 6;
    var maxBytes = Number(inputs[0].getAttribute("data-max-bytes")) || 0;
    var urls = [];
    // With DataTransfer the inputs' file lists can be edited: photos accumulate over several camera shots, and a
    // preview can be removed. Without it, each choice replaces the input's files and is only previewed.
    var editable = (function () {
      try {
        return typeof DataTransfer === "function" && !!new DataTransfer().items;
      } catch (failure) {
        return false;
      }
    })();
    var kept = inputs.map(function () {
      return [];
    });

    function total() {
      return kept.reduce(function (sum, files) {
        return sum + files.length;
      }, 0);
    }

    function store(index, files) {
      kept[index] = files;
      if (editable) {
        var transfer = new DataTransfer();
        files.forEach(function (file) {
          transfer.items.add(file);
        });
        inputs[index].files = transfer.files;
      }
    }

    function render() {
      urls.forEach(function (url) {
        URL.revokeObjectURL(url);
      });
      urls = [];
      if (box) {
        box.textContent = "";
        kept.forEach(function (files, index) {
          files.forEach(function (file, position) {
            var item = document.createElement("figure");
            item.className = "preview";
            var image = document.createElement("img");
            var url = URL.createObjectURL(file);
            urls.push(url);
            image.src = url;
            image.alt = file.name;
            item.appendChild(image);
            if (editable) {
              var remove = document.createElement("button");
              remove.type = "button";
              remove.className = "remove";
              remove.textContent = "\u00d7";
              remove.setAttribute("aria-label", message(form, "remove-photo"));
              remove.addEventListener("click", function () {
                var left = kept[index].slice();
                left.splice(position, 1);
                store(index, left);
                render();
              });
              item.appendChild(remove);
            }
            box.appendChild(item);
          });
        });
      }
      if (count) {
        count.textContent = total() ? fill(message(form, "photo-count"), { n: total(), max: max }) : "";
      }
    }

    inputs.forEach(function (input, index) {
      input.addEventListener("change", function () {
        var problems = [];
        var files = editable ? kept[index].slice() : [];
        Array.prototype.forEach.call(input.files || [], function (file) {
          if (file.type && file.type.indexOf("image/") !== 0) {
            problems.push(fill(message(form, "not-photo"), { name: file.name }));
          } else if (maxBytes && file.size > maxBytes) {
            problems.push(fill(message(form, "too-large"), { name: file.name }));
          } else {
            files.push(file);
          }
        });
        var room = max - (total() - kept[index].length);
        if (files.length > room) {
          files = files.slice(0, Math.max(room, 0));
          problems.push(fill(message(form, "too-many"), { n: max }));
        }
        store(index, files);
        say(error, problems.join(" "));
        render();
      });
    });
  }

  // --- submit: a point is required, one send at a time ---------------------------------------------------------------

  function guard(form, location) {
    var button = form.querySelector("[data-submit]");
    var label = button ? button.textContent : "";
    var sending = false;
    var timer = null;

    function release() {
      sending = false;
      if (button) {
        button.disabled = false;
        button.textContent = label;
      }
    }

    form.addEventListener("submit", function (event) {
      if (location && location.required && !location.chosen()) {
        event.preventDefault();
        location.refuse();
        return;
      }
      if (sending) {
        event.preventDefault();
        return;
      }
      sending = true;
      if (button) {
        button.disabled = true;
        button.textContent = message(form, "sending") || label;
      }
      // A send that never answers (a phone losing its network) may be retried: the same key makes no second case.
      timer = window.setTimeout(release, 20000);
    });
    window.addEventListener("pageshow", function () {
      window.clearTimeout(timer);
      release();
    });
  }

  function enhance(form) {
    if (form.getAttribute("data-enhanced")) {
      return;
    }
    form.setAttribute("data-enhanced", "1");
    keepKey(form);
    var location = locationWidget(form);
    photoWidget(form);
    guard(form, location);
  }

  function init() {
    all(document, "form[data-report-form]").forEach(enhance);
    all(document, "[data-report-done]").forEach(markDone);
  }

  window.GridgovReport = { enhance: enhance, inside: inside };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
