// Polls a voucher generation's progress (admin-job.html) until it is finished.
(function () {
  var box = document.getElementById("job");
  if (!box) return;
  var bar = document.getElementById("bar"), status = document.getElementById("status"), link = document.getElementById("batch");
  function poll() {
    fetch(box.dataset.progress, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
      bar.max = s.total || 1;
      bar.value = s.done;
      if (!s.finished) {
        status.textContent = s.done + " of " + s.total + " vouchers";
        setTimeout(poll, 1000);
        return;
      }
      if (s.error) { status.textContent = "Failed: " + s.error; return; }
      status.textContent = "Batch " + s.batch_id + " is ready: " + s.total + " vouchers.";
      link.href = "/admin/batches/" + s.batch_id + "/print";
      link.hidden = false;
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
