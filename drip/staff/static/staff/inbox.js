// Live character and text count under the reply box (the server checks again on Send).
document.addEventListener("DOMContentLoaded", function () {
  var GSM = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-.\/0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\\[~\]|€]*$/;
  document.querySelectorAll("textarea[data-sms-count]").forEach(function (box) {
    var out = document.getElementById(box.getAttribute("data-sms-count"));
    function update() {
      var text = box.value, gsm = GSM.test(text);
      var units = gsm ? text.replace(/[\^{}\\\[~\]|€]/g, "xx").length : text.length;
      var one = gsm ? 160 : 70, many = gsm ? 153 : 67;
      var texts = units === 0 ? 0 : units <= one ? 1 : Math.ceil(units / many);
      out.textContent = text.length + " characters · " + texts + " text" + (texts === 1 ? "" : "s") +
        (gsm ? " · standard characters" : " · special characters (70 per text)");
    }
    box.addEventListener("input", update);
    update();
  });
});
