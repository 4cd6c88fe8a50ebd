// Move focus to the error summary so screen readers and keyboards start there (GOV.UK pattern).
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
});
