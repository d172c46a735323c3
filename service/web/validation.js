// Checks before sending, read from each input's own constraints (required, max, pattern, data-above,
// data-max-integer); main.js sets the limits from the server's /info. The server checks again: if it still
// refuses, its own message is shown.

function problemWith(input) {
  const { validity, value, dataset } = input;
  if (validity.valueMissing) return "Enter a value.";
  if (validity.badInput) return "Enter a number, such as 2.5.";
  if (validity.patternMismatch) return "Enter a whole number (digits only), or leave it empty.";
  if (validity.rangeOverflow) return `At most ${input.max}: the server's limit.`;
  if (dataset.above !== undefined && value !== "" && !(Number(value) > Number(dataset.above))) {
    return `Must be more than ${dataset.above}.`;
  }
  if (dataset.maxInteger && value !== "" && BigInt(value) > BigInt(dataset.maxInteger)) {
    return `At most ${dataset.maxInteger}.`;
  }
  return "";
}

// Marks each input valid or not, with its message; returns the first invalid input, or null.
export function validate(inputs) {
  let first = null;
  for (const input of inputs) {
    const problem = problemWith(input);
    document.getElementById(`${input.id}-error`).textContent = problem;
    input.setAttribute("aria-invalid", String(problem !== ""));
    if (problem && !first) first = input;
  }
  return first;
}

// Re-checks a field while it is typed in once it has been marked wrong. Not when it is left: a message
// appearing then moves the Generate button between the press and the release of the click that left it.
export function watch(inputs) {
  for (const input of inputs) {
    input.addEventListener("input", () => {
      if (input.getAttribute("aria-invalid") === "true") validate([input]);
    });
  }
}
