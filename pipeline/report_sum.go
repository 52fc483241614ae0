package pipeline

import "maps"

// outcomeRank orders Report.Outcome from best to worst.
var outcomeRank = map[string]int{"": 0, "done": 1, "interrupted": 2, "quota": 3, "failed": 4}

// SumReports is the report of runs side by side over disjoint rows (an
// agency's locations, each with its own rows and requests): every count
// added, the elapsed time the longest, the outcome the worst (failed over
// quota over interrupted over done) with its error. Runs that resumed one
// another over the same rows merge differently (plan.MergeReports).
func SumReports(reps ...Report) Report {
	var out Report
	for _, r := range reps {
		out.RowsRead += r.RowsRead
		out.Created += r.Created
		out.Updated += r.Updated
		out.Unchanged += r.Unchanged
		out.Rejected += r.Rejected
		out.Requests += r.Requests
		out.Retries += r.Retries
		out.Throttled += r.Throttled
		out.ElapsedS = max(out.ElapsedS, r.ElapsedS)
		out.NotesCreated += r.NotesCreated
		out.TasksCreated += r.TasksCreated
		out.TagCalls += r.TagCalls
		out.PhonesDropped += r.PhonesDropped
		out.PhonesInvalid += r.PhonesInvalid
		out.EmailsInvalid += r.EmailsInvalid
		out.RelatedDeleted += r.RelatedDeleted
		out.RowsWritten = addCounts(out.RowsWritten, r.RowsWritten)
		out.RequestsByKind = addCounts(out.RequestsByKind, r.RequestsByKind)
		out.DryRun = out.DryRun || r.DryRun
		if outcomeRank[r.Outcome] > outcomeRank[out.Outcome] {
			out.Outcome, out.Error = r.Outcome, r.Error
		}
	}
	return out
}

func addCounts(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = maps.Clone(src)
		return dst
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}
