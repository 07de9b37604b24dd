package schedule

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/bbkey/bbkey/internal/text"
)

// cmdExe runs the job so its output can be appended to the log: Task Scheduler itself
// cannot redirect output. cmd /c returns bbkey's exit code, which the task shows as its
// last result.
const cmdExe = `%SystemRoot%\System32\cmd.exe`

// TaskXML renders the Task Scheduler definition of j, for `schtasks /Create /XML`. The
// first run is the first calendar time after now (local time, as Task Scheduler reads
// it). The text declares UTF-16: write it with EncodeUTF16.
func TaskXML(j Job, now time.Time) (string, error) {
	if err := j.validate(TaskScheduler); err != nil {
		return "", err
	}
	args, err := taskArguments(j)
	if err != nil {
		return "", err
	}
	var sched string
	switch j.Calendar.Frequency {
	case Daily:
		sched = "      <ScheduleByDay>\n        <DaysInterval>1</DaysInterval>\n      </ScheduleByDay>\n"
	case Weekly:
		sched = "      <ScheduleByWeek>\n        <DaysOfWeek>\n          <Monday />\n        </DaysOfWeek>\n        <WeeksInterval>1</WeeksInterval>\n      </ScheduleByWeek>\n"
	case Monthly:
		var months strings.Builder
		for m := time.January; m <= time.December; m++ {
			fmt.Fprintf(&months, "          <%s />\n", m)
		}
		sched = "      <ScheduleByMonth>\n        <DaysOfMonth>\n          <Day>1</Day>\n        </DaysOfMonth>\n        <Months>\n" +
			months.String() + "        </Months>\n      </ScheduleByMonth>\n"
	}
	start := j.Calendar.Next(now).Format("2006-01-02T15:04:05")
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Author>bbkey</Author>
    <Description>%s. Written by bbkey rotate --schedule; bbkey rotate --unschedule removes it.</Description>
    <URI>\%s</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>%s</StartBoundary>
      <Enabled>true</Enabled>
%s    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>
    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>%s</Command>
      <Arguments>%s</Arguments>
    </Exec>
  </Actions>
</Task>
`, xmlText(j.Description), xmlText(jobName(j.ID)), start, sched, xmlText(cmdExe), xmlText(args))
	return b.String(), nil
}

// taskArguments is the cmd.exe argument string: /s /c "…" keeps everything between the
// outer quotes verbatim, so the inner quoting is the one the C runtime of bbkey.exe reads.
func taskArguments(j Job) (string, error) {
	var line []string
	for _, kv := range j.Env {
		if err := cmdSafe(kv); err != nil {
			return "", err
		}
		line = append(line, `set "`+kv+`" &&`)
	}
	for _, a := range append([]string{j.Executable}, j.Args...) {
		if err := cmdSafe(a); err != nil {
			return "", err
		}
		line = append(line, text.WindowsQuote(a))
	}
	if err := cmdSafe(j.LogFile); err != nil {
		return "", err
	}
	line = append(line, ">>", text.WindowsQuote(j.LogFile), "2>&1")
	return `/d /s /c "` + strings.Join(line, " ") + `"`, nil
}

// cmdSafe refuses what cmd.exe would expand or end a quoted word with, even inside quotes.
func cmdSafe(s string) error {
	if strings.ContainsAny(s, `"%`) {
		return fmt.Errorf("%q cannot be passed through cmd.exe safely (it contains %% or \"): choose a path without them", s)
	}
	return nil
}

// EncodeUTF16 encodes s as UTF-16LE with a byte-order mark, the encoding schtasks reads.
func EncodeUTF16(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xFF, 0xFE
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}
