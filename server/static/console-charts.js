// Apache ECharts (vendored, pinned: /static/vendor/echarts-<version>/) behind two small helpers.
import * as echarts from "/static/vendor/echarts-5.6.0/echarts.esm.min.js";
import { h } from "./console-dom.js";

// A chart box; the chart is drawn once the box is in the document (ECharts needs its size).
export function chart(id, option, height) {
  const box = h("div", { id, class: "chart", style: `height: ${height || 320}px` });
  requestAnimationFrame(() => {
    const existing = echarts.getInstanceByDom(box);
    if (existing) existing.dispose();
    const instance = echarts.init(box, null, { renderer: "canvas" });
    instance.setOption(option);
    box.dataset.ready = "true";
  });
  return box;
}

// Horizontal stacked bars: one bar per category, one series per [name, values].
export function stackedBars(categories, series, rtl) {
  return {
    animation: false,
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: "value", inverse: Boolean(rtl) },
    yAxis: { type: "category", data: categories, inverse: true, position: rtl ? "right" : "left" },
    series: series.map(([name, values]) => ({ name, type: "bar", stack: "total", data: values })),
  };
}
