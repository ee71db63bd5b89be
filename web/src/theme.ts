// Dark and light themes: ?theme=dark|light wins, then the toggle's last choice, then the
// system's prefers-color-scheme (followed live while nothing else was chosen).

export type Theme = "dark" | "light";

const STORAGE_KEY = "sightline.theme";

export function initialTheme(): { theme: Theme; pinned: boolean } {
  const asked = new URLSearchParams(location.search).get("theme");
  if (asked === "dark" || asked === "light") return { theme: asked, pinned: true };
  const stored = readStored();
  if (stored) return { theme: stored, pinned: true };
  return { theme: systemTheme(), pinned: false };
}

export function systemTheme(): Theme {
  return matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  document.querySelector('meta[name="color-scheme"]')?.setAttribute("content", theme);
}

export function storeTheme(theme: Theme): void {
  try {
    localStorage.setItem(STORAGE_KEY, theme);
  } catch {
    // Private windows and kiosks may refuse storage; the toggle still works for this visit.
  }
}

function readStored(): Theme | undefined {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return stored === "dark" || stored === "light" ? stored : undefined;
  } catch {
    return undefined;
  }
}
