// kind "map": a choropleth of the main KPI's groups by region. A region is an ISO 3166-1
// alpha-2 country ("AT") or an ISO 3166-2 subdivision ("DE-BY", shading its country). The
// projection zooms to the shaded countries. The world's outlines (Natural Earth 1:110m, from
// world-atlas) are bundled: nothing is fetched at run time.

import { geoNaturalEarth1, geoPath, type GeoPermissibleObjects } from "d3-geo";
import type { Feature, FeatureCollection, Geometry } from "geojson";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import world from "world-atlas/countries-110m.json";
import { groupLabel } from "../format";
import { numericByAlpha2 } from "../iso3166";
import { element, Panel, setRaw, setText, type PanelContext } from "./panel";

const SVG = "http://www.w3.org/2000/svg";
const TOP_REGIONS = 4;

type Country = Feature<Geometry, { name: string }>;

let countries: Country[] | undefined;
function allCountries(): Country[] {
  if (!countries) {
    const topology = world as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
    const collection = feature(topology, topology.objects.countries) as FeatureCollection<Geometry, { name: string }>;
    // Antarctica takes room and never has orders.
    countries = collection.features.filter((country) => country.id !== "010");
  }
  return countries;
}

/** world-atlas ids are ISO 3166-1 numeric codes; a few disputed areas have none. */
function countryKey(country: Country): string {
  return country.id !== undefined ? String(country.id) : `name:${country.properties.name}`;
}

export class MapPanel extends Panel {
  private readonly figure = element("div", "map");
  private readonly svg = document.createElementNS(SVG, "svg");
  private readonly paths = new Map<string, SVGPathElement>();
  private readonly names = new Map<string, string>();
  private readonly summary = element("p", "headline");
  private readonly shaded = element("span", "headline-value");
  private readonly caption = element("span", "headline-caption");
  private readonly legend = element("div", "map-legend");
  private readonly legendMin = element("span");
  private readonly legendMax = element("span");
  private readonly top = element("ol", "map-top");
  private readonly observer: ResizeObserver;
  private fittedTo = "";
  private byCountry = new Map<string, number>();

  constructor(context: PanelContext) {
    super(context);
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("aria-label", `${this.spec.title} map`);
    this.figure.append(this.svg);
    this.shaded.textContent = "—";
    this.summary.append(this.shaded, this.caption);
    const ramp = element("span", "map-ramp");
    this.legend.append(this.legendMin, ramp, this.legendMax);
    this.body.append(this.summary, this.figure, this.legend, this.top);
    for (const country of allCountries()) {
      const path = document.createElementNS(SVG, "path");
      path.classList.add("country");
      const title = document.createElementNS(SVG, "title");
      title.textContent = country.properties.name;
      path.append(title);
      this.svg.append(path);
      this.paths.set(countryKey(country), path);
      this.names.set(countryKey(country), country.properties.name);
    }
    this.observer = new ResizeObserver(() => this.fit(true));
    this.observer.observe(this.figure);
  }

  render(now: number): void {
    const kpi = this.spec.kpis[0];
    const window = this.store.current(kpi, this.label(), now);
    const byCountry = new Map<string, number>();
    const regions: { name: string; value: number }[] = [];
    for (const row of this.values(window)) {
      const value = this.number(row.value);
      if (!Number.isFinite(value)) continue;
      const region = groupLabel(row.group);
      regions.push({ name: region, value });
      const numeric = numericByAlpha2.get(region.slice(0, 2).toUpperCase());
      if (numeric && this.paths.has(numeric)) byCountry.set(numeric, (byCountry.get(numeric) ?? 0) + value);
    }
    this.byCountry = byCountry;
    this.setHasData(window !== undefined);
    const max = Math.max(0, ...byCountry.values());
    for (const [id, path] of this.paths) {
      const value = byCountry.get(id);
      const title = path.firstElementChild as SVGTitleElement;
      const name = this.names.get(id) ?? id;
      if (value === undefined || max <= 0) {
        path.style.removeProperty("fill");
        path.classList.remove("shaded");
        setText(title, name);
        continue;
      }
      // Square root: a few big markets would otherwise wash out every other country.
      const share = Math.round(15 + 85 * Math.sqrt(value / max));
      path.style.fill = `color-mix(in oklab, var(--accent) ${share}%, var(--map-base))`;
      path.classList.add("shaded");
      setText(title, `${name}: ${this.formats.value(value, this.spec.format)}`);
    }
    setText(this.shaded, this.formats.value(byCountry.size, "count"));
    setText(this.caption, byCountry.size === 1 ? " country" : " countries");
    setRaw(this.shaded, byCountry.size);
    setText(this.legendMin, this.formats.value(0, this.spec.format, true));
    setText(this.legendMax, this.formats.value(max, this.spec.format, true));
    this.renderTop(regions);
    this.fit(false);
  }

  private renderTop(regions: { name: string; value: number }[]): void {
    const top = regions.sort((a, b) => b.value - a.value).slice(0, TOP_REGIONS);
    while (this.top.children.length > top.length) this.top.lastElementChild?.remove();
    top.forEach((region, index) => {
      let item = this.top.children[index] as HTMLLIElement | undefined;
      if (!item) {
        item = element("li");
        item.append(element("span", "region"), element("span", "num"));
        this.top.append(item);
      }
      setText(item.children[0], region.name);
      setText(item.children[1], this.formats.value(region.value, this.spec.format, true));
    });
  }

  /** Projects the outlines to the figure's size, zoomed to the shaded countries. */
  private fit(force: boolean): void {
    const width = Math.floor(this.figure.clientWidth);
    const height = Math.floor(this.figure.clientHeight);
    if (width === 0 || height === 0) return;
    const shaded = allCountries().filter((country) => this.byCountry.has(countryKey(country)));
    const key = `${width}x${height}:${shaded.map((country) => country.id).join(",")}`;
    if (!force && key === this.fittedTo) return;
    this.fittedTo = key;
    const target: GeoPermissibleObjects = shaded.length > 0 ? { type: "FeatureCollection", features: shaded } : { type: "Sphere" };
    const padding = Math.min(width, height) * 0.06;
    const projection = geoNaturalEarth1().fitExtent(
      [
        [padding, padding],
        [width - padding, height - padding],
      ],
      target,
    );
    const path = geoPath(projection);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    for (const country of allCountries()) {
      this.paths.get(countryKey(country))?.setAttribute("d", path(country) ?? "");
    }
  }
}
