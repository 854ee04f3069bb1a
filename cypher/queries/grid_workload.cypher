// grid_workload — open and overdue door-to-door tasks per grid, with their village's totals.
//
// Answers: "which villages and grids are behind on their visits?"
//   A task is open unless its status is done, closed or cancelled; overdue when open and
//   due before `on`. One row per grid holding an open task, with its village's totals;
//   villages with most overdue tasks first, then the grids of each likewise.
// Parameters:
//   :param on => date('2026-12-31')         the day overdue is counted on (default: the as-of date)
// Returns: village, village_name, village_open, village_overdue, grid, open_tasks, overdue_tasks, oldest_due — ordered by village_overdue desc, village, overdue_tasks desc, grid
// Example: linkgraph query grid_workload --param on=2027-02-01
MATCH (t:Task)-[:IN]->(g:Grid)
WHERE NOT coalesce(t.status, 'open') IN ['done', 'closed', 'cancelled']
WITH g, count(t) AS open_tasks,
     sum(CASE WHEN t.due_on < $on THEN 1 ELSE 0 END) AS overdue_tasks,
     min(t.due_on) AS oldest_due
WITH g.village AS village, g.village_name AS village_name,
     collect({grid: g.code, open: open_tasks, overdue: overdue_tasks, oldest: oldest_due}) AS grids,
     sum(open_tasks) AS village_open, sum(overdue_tasks) AS village_overdue
UNWIND grids AS x
RETURN village, village_name, village_open, village_overdue, x.grid AS grid,
       x.open AS open_tasks, x.overdue AS overdue_tasks, x.oldest AS oldest_due
ORDER BY village_overdue DESC, village, overdue_tasks DESC, grid
