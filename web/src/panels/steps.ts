// Shared by "funnel" and "pipeline": labelled bars in a fixed order of steps.

import { element, setLevel, setRaw, setText } from "./panel";

export interface Step {
  name: string;
  value: number;
  note?: string;
  level?: "ok" | "warning" | "critical";
}

export function renderSteps(list: HTMLOListElement, steps: Step[], format: (value: number) => string): void {
  const max = Math.max(0, ...steps.map((step) => step.value));
  while (list.children.length > steps.length) list.lastElementChild?.remove();
  steps.forEach((step, index) => {
    let item = list.children[index] as HTMLLIElement | undefined;
    if (!item) {
      item = element("li", "step");
      const track = element("span", "bar-track");
      track.append(element("span", "bar-fill"));
      item.append(element("span", "step-name"), element("span", "step-value"), element("span", "step-note"), track);
      list.append(item);
    }
    const [name, value, note, track] = item.children as unknown as HTMLElement[];
    setText(name, step.name);
    setText(value, format(step.value));
    setRaw(value, step.value, "raw");
    setText(note, step.note ?? "");
    (track.firstElementChild as HTMLElement).style.transform = `scaleX(${max > 0 ? Math.max(0, step.value) / max : 0})`;
    setLevel(item, step.level);
  });
}

/** "checkout.started" → "Checkout started". */
export function humanize(name: string): string {
  const words = name.replaceAll(/[._-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
