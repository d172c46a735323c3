// The curl command that repeats a request: the same fields and the same file bytes, with the random seed the
// server used (X-Random-Seed), give the same WAV bytes. The key is left as a shell variable so the command
// can be copied, pasted and shown without giving the key away.

function shellQuote(text) {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

// curl -F treats ; and , in a file name as the start of options, unless the name is in double quotes.
function formFile(field, name) {
  const quoted = /[;,"\\]/.test(name) ? `"${name.replace(/["\\]/g, "\\$&")}"` : name;
  return `${field}=@${quoted}`;
}

export function curlCommand(url, fields, seedName, outputName, withKey) {
  const parts = ["curl"];
  if (withKey) parts.push('-H "Authorization: Bearer $WAVENET_API_KEY"');
  if (seedName) parts.push("-F", shellQuote(formFile("seed", seedName)));
  for (const [name, value] of fields) parts.push("-F", shellQuote(`${name}=${value}`));
  parts.push(shellQuote(url), "-o", shellQuote(outputName));
  return parts.join(" ");
}
