// Every page: the header's language switch (saved as the user's preference).

import { api } from "./api.js";
import { toast } from "./dom.js";
import { t } from "./i18n.js";

const languageSwitch = document.getElementById("language-switch");
if (languageSwitch) {
  languageSwitch.addEventListener("change", async () => {
    const language = languageSwitch.value;
    languageSwitch.disabled = true;
    try {
      await api("PATCH", "/api/v1/users/me", { language });
      window.location.reload();
    } catch (error) {
      languageSwitch.value = languageSwitch.dataset.current;
      languageSwitch.disabled = false;
      toast(t("Could not change the language: {message}", { message: error.message }), "error");
    }
  });
}
