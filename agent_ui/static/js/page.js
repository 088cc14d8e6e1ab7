// The page's data: the JSON the server put in <script type="application/json" id="page-data">.
// Read once; every module shares it (user, csrf_token, locale, messages, page fields).

let cached = null;

export function pageData() {
  if (cached === null) {
    const element = document.getElementById("page-data");
    cached = element ? JSON.parse(element.textContent || "{}") : {};
  }
  return cached;
}
