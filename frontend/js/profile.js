// The Profile section: name, headline and skills. Small on purpose: it is the
// user's own data, so they can see it change and come back after a restore.

import { $, busy, h } from "./dom.js";
import { call } from "./transport.js";
import { showError, toast } from "./dialogs.js";

let current = null;

export async function loadProfile() {
  render(await call("get_profile"));
}

function render(profile) {
  current = profile;
  $("#full-name").value = profile.full_name;
  $("#headline").value = profile.headline;
  $("#profile-heading-name").textContent = profile.full_name || "Your profile";
  const list = $("#skills");
  list.replaceChildren(...profile.skills.map((skill) =>
    h("li", { class: "chip" },
      h("span", { text: skill.name }),
      h("button", { type: "button", class: "chip-remove", "aria-label": `Remove skill ${skill.name}`,
                    title: `Remove ${skill.name}`, text: "×",
                    onclick: (e) => removeSkill(e.currentTarget, skill) }))));
  $("#no-skills").hidden = profile.skills.length > 0;
}

async function removeSkill(button, skill) {
  await busy(button, async () => {
    try {
      render(await call("remove_skill", skill.id));
      toast(`Removed ${skill.name}.`);
      $("#new-skill").focus();
    } catch (e) {
      showError(e);
    }
  });
}

export function setUpProfile() {
  $("#profile-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy($("#save-profile"), async () => {
      try {
        render(await call("save_profile", $("#full-name").value, $("#headline").value));
        toast("Profile saved.");
      } catch (e) {
        showError(e);
      }
    });
  });
  $("#skill-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#new-skill");
    await busy($("#add-skill"), async () => {
      try {
        render(await call("add_skill", input.value));
        input.value = "";
      } catch (e) {
        showError(e);
      }
    });
    input.focus();
  });
}

export function profileName() {
  return current ? current.full_name : "";
}
