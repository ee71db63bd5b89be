// A small modal question ("Who is acting?", "Assign to whom?") on a native <dialog>: focus
// moves into it and stays there, Escape cancels, Enter answers. And the acting person's
// name, asked once and kept in localStorage.

const ACTOR_KEY = "sightline.actor";

let dialog: HTMLDialogElement | undefined;

function build(): HTMLDialogElement {
  const node = document.createElement("dialog");
  node.className = "ask";
  node.innerHTML = `
    <form method="dialog">
      <label class="ask-label" for="ask-input"></label>
      <input id="ask-input" name="answer" type="text" autocomplete="name" required maxlength="100" />
      <p class="ask-hint"></p>
      <div class="ask-buttons">
        <button type="button" class="button" value="">Cancel</button>
        <button type="submit" class="button primary" value="ok">OK</button>
      </div>
    </form>`;
  node.querySelector<HTMLButtonElement>('button[type="button"]')!.addEventListener("click", () => node.close(""));
  document.body.append(node);
  return node;
}

/** Asks one line of text; null when cancelled or left empty. */
export function ask(question: string, options: { initial?: string; hint?: string } = {}): Promise<string | null> {
  dialog ??= build();
  const node = dialog;
  const input = node.querySelector("input") as HTMLInputElement;
  (node.querySelector(".ask-label") as HTMLElement).textContent = question;
  const hint = node.querySelector(".ask-hint") as HTMLElement;
  hint.textContent = options.hint ?? "";
  hint.hidden = !options.hint;
  input.value = options.initial ?? "";
  node.returnValue = "";
  const before = document.activeElement as HTMLElement | null;
  return new Promise((resolve) => {
    node.addEventListener(
      "close",
      () => {
        const answer = node.returnValue === "ok" ? input.value.trim() : "";
        // Back to the button that asked (if it is still on the page).
        if (before?.isConnected) before.focus();
        resolve(answer ? answer : null);
      },
      { once: true },
    );
    node.showModal();
    input.select();
  });
}

export function storedActor(): string | null {
  try {
    return localStorage.getItem(ACTOR_KEY) || null;
  } catch {
    return null;
  }
}

function storeActor(name: string): void {
  try {
    localStorage.setItem(ACTOR_KEY, name);
  } catch {
    // Private mode without storage: asked again next time.
  }
}

/** The acting person: the stored name, else asked ("Who is acting?") and kept. */
export async function actor(): Promise<string | null> {
  const known = storedActor();
  if (known) return known;
  return changeActor();
}

/** Asks who is acting (again) and keeps the answer. */
export async function changeActor(): Promise<string | null> {
  const name = await ask("Who is acting?", { initial: storedActor() ?? "", hint: "Your name goes into the alert's history. Asked once on this browser." });
  if (name) storeActor(name);
  return name;
}
