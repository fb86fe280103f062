// Digest preferences: only the chosen cadence's fields are shown, and sent (a disabled fieldset sends
// nothing). Without this script every field shows and the server reads only those that apply.
(function () {
  "use strict";
  const cadence = document.querySelector("#preferences select[name=cadence]");
  if (!cadence) return;
  const groups = [...document.querySelectorAll("#preferences [data-cadences]")];
  function showChosen() {
    for (const group of groups) {
      const applies = group.dataset.cadences.split(" ").includes(cadence.value);
      group.hidden = !applies;
      group.disabled = !applies;
    }
  }
  cadence.addEventListener("change", showChosen);
  showChosen();
})();
