// Client matrix: Sarama (Debian's golang-github-shopify-sarama-dev) against a
// live gateway. Built and run by ../sarama.sh HOST:PORT.
//
// Creates a 3-partition topic (ClusterAdmin), produces keyed snappy messages
// with headers, consumes them in a group, commits, closes; produces more and
// checks a new consumer of the group resumes at the committed offsets;
// checks list offsets; deletes the topic. Output: one "ok: ..." line per
// step; "FAIL: reason" and exit 1 at the first failure. Sarama's own log
// goes to stderr.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const parts = 3

var (
	bootstrap []string
	topic     string
	group     string
)

func ok(format string, a ...interface{}) { fmt.Printf("ok: "+format+"\n", a...) }

func fail(format string, a ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_0_0_0
	c.ClientID = "kgw-client-sarama"
	return c
}

// offsets maps partition -> offset.
type offsets map[int32]int64

// produce sends messages first..last (key key-(n % 16), value v-n, two
// headers, snappy) and returns where each went: n -> [partition, offset].
func produce(phase, first, last int) map[int][2]int64 {
	c := config()
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Compression = sarama.CompressionSnappy
	p, err := sarama.NewSyncProducer(bootstrap, c)
	if err != nil {
		fail("produce %d-%d: %v", first, last, err)
	}
	var msgs []*sarama.ProducerMessage
	for n := first; n <= last; n++ {
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", n%16)),
			Value:   sarama.StringEncoder(fmt.Sprintf("v-%d", n)),
			Headers: headers(phase, n),
		})
	}
	if err := p.SendMessages(msgs); err != nil {
		fail("produce %d-%d: %v", first, last, err)
	}
	placed := map[int][2]int64{}
	for i, m := range msgs {
		placed[first+i] = [2]int64{int64(m.Partition), m.Offset}
	}
	if err := p.Close(); err != nil {
		fail("closing the producer: %v", err)
	}
	ok("produced messages %d-%d (keys, headers, snappy)", first, last)
	return placed
}

func headers(phase, n int) []sarama.RecordHeader {
	return []sarama.RecordHeader{
		{Key: []byte("phase"), Value: []byte(strconv.Itoa(phase))},
		{Key: []byte("seq"), Value: []byte(strconv.Itoa(n))},
	}
}

// handler hands every message of its claims to out and marks it consumed.
type handler struct{ out chan *sarama.ConsumerMessage }

func (handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.out <- m
		s.MarkMessage(m, "")
	}
	return nil
}

// consume runs a group consumer until it has want messages, then 2 s more to
// catch extras, and closes it (which commits the marked offsets).
func consume(want int) []*sarama.ConsumerMessage {
	c := config()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	g, err := sarama.NewConsumerGroup(bootstrap, group, c)
	if err != nil {
		fail("consumer group %s: %v", group, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := handler{out: make(chan *sarama.ConsumerMessage, 1000)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				fmt.Printf("FAIL: consumer group %s: Consume: %v\n", group, err)
				os.Exit(1)
			}
		}
	}()
	var got []*sarama.ConsumerMessage
	deadline := time.After(60 * time.Second)
	var quiet <-chan time.Time
loop:
	for {
		select {
		case m := <-h.out:
			got = append(got, m)
			if len(got) == want {
				quiet = time.After(2 * time.Second)
			}
		case err := <-g.Errors():
			fail("consumer group %s: %v", group, err)
		case <-quiet:
			break loop
		case <-deadline:
			fail("group %s consumed %d of %d messages within 60 s", group, len(got), want)
		}
	}
	cancel()
	wg.Wait()
	if err := g.Close(); err != nil {
		fail("closing the consumer of group %s: %v", group, err)
	}
	return got
}

// check: exactly the produced messages, at the offsets the producer was
// told, with their keys and headers, in produce order per partition.
func check(msgs []*sarama.ConsumerMessage, placed map[int][2]int64, phase int) {
	seen := map[int]bool{}
	last := offsets{}
	for _, m := range msgs {
		v := string(m.Value)
		n, err := strconv.Atoi(v[min(2, len(v)):])
		if _, known := placed[n]; err != nil || v[:2] != "v-" || !known {
			fail("unexpected message %q at partition %d offset %d", v, m.Partition, m.Offset)
		}
		if seen[n] {
			fail("message %d consumed twice", n)
		}
		seen[n] = true
		if at := [2]int64{int64(m.Partition), m.Offset}; at != placed[n] {
			fail("message %d at partition %d offset %d, produced to %v", n, m.Partition, m.Offset, placed[n])
		}
		if string(m.Key) != fmt.Sprintf("key-%d", n%16) {
			fail("message %d has key %q", n, m.Key)
		}
		var hs []sarama.RecordHeader
		for _, h := range m.Headers {
			hs = append(hs, *h)
		}
		if !reflect.DeepEqual(hs, headers(phase, n)) {
			fail("message %d has headers %q", n, hs)
		}
		if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
			fail("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
	}
	if len(seen) != len(placed) {
		fail("%d of %d messages missing", len(placed)-len(seen), len(placed))
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// ends: the next offset of each partition after the messages in placed.
func ends(placed map[int][2]int64, base offsets) offsets {
	out := offsets{}
	for p, o := range base {
		out[p] = o
	}
	for _, at := range placed {
		if at[1]+1 > out[int32(at[0])] {
			out[int32(at[0])] = at[1] + 1
		}
	}
	return out
}

func committed(admin sarama.ClusterAdmin) offsets {
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		fail("OffsetFetch for group %s: %v", group, err)
	}
	out := offsets{}
	for p := int32(0); p < parts; p++ {
		b := resp.GetBlock(topic, p)
		if b == nil || b.Err != sarama.ErrNoError {
			fail("OffsetFetch for group %s partition %d: %v", group, p, b)
		}
		out[p] = b.Offset
	}
	return out
}

func listOffsets(want offsets) {
	client, err := sarama.NewClient(bootstrap, config())
	if err != nil {
		fail("list offsets: %v", err)
	}
	defer client.Close()
	earliest, latest := offsets{}, offsets{}
	for p := int32(0); p < parts; p++ {
		if earliest[p], err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			fail("list offsets (earliest) of partition %d: %v", p, err)
		}
		if latest[p], err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			fail("list offsets (latest) of partition %d: %v", p, err)
		}
	}
	if !reflect.DeepEqual(earliest, offsets{0: 0, 1: 0, 2: 0}) || !reflect.DeepEqual(latest, want) {
		fail("list offsets: earliest %v, latest %v, want all 0 and %v", earliest, latest, want)
	}
	ok("list offsets: earliest %v, latest %v", earliest, latest)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sarama HOST:PORT")
		os.Exit(2)
	}
	bootstrap = []string{os.Args[1]}
	sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags)
	topic = fmt.Sprintf("kgw-client-sarama-%d-%d", os.Getpid(), time.Now().Unix())
	group = topic + "-group"

	admin, err := sarama.NewClusterAdmin(bootstrap, config())
	if err != nil {
		fail("cluster admin: %v", err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false); err != nil {
		fail("create topic %s: %v", topic, err)
	}
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != parts {
		fail("describe topic %s after CreateTopics: %v %+v", topic, err, md)
	}
	ok("created topic %s with %d partitions (ClusterAdmin.CreateTopic)", topic, parts)

	placed1 := produce(1, 0, 199)
	ends1 := ends(placed1, offsets{0: 0, 1: 0, 2: 0})
	for p, o := range ends1 {
		if o == 0 {
			fail("messages not spread over the %d partitions: none in partition %d", parts, p)
		}
	}
	check(consume(200), placed1, 1)
	if c := committed(admin); !reflect.DeepEqual(c, ends1) {
		fail("committed offsets %v after consuming everything, want %v", c, ends1)
	}
	ok("group %s consumed 0-199 (keys, values, headers, offsets, order), committed %v, closed", group, ends1)
	listOffsets(ends1)

	placed2 := produce(2, 200, 249)
	msgs := consume(50)
	check(msgs, placed2, 2)
	firsts := offsets{}
	for _, m := range msgs {
		if _, seen := firsts[m.Partition]; !seen {
			firsts[m.Partition] = m.Offset
		}
	}
	for p, o := range firsts {
		if o != ends1[p] {
			fail("new consumer started at %v, committed offsets were %v", firsts, ends1)
		}
	}
	ends2 := ends(placed2, ends1)
	if c := committed(admin); !reflect.DeepEqual(c, ends2) {
		fail("committed offsets %v after the second consumer, want %v", c, ends2)
	}
	ok("new consumer in %s resumed at %v: only 200-249, in order; committed %v", group, firsts, ends2)
	listOffsets(ends2)

	if err := admin.DeleteTopic(topic); err != nil {
		fail("delete topic %s: %v", topic, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		topics, err := admin.ListTopics()
		if err != nil {
			fail("list topics after DeleteTopics: %v", err)
		}
		if _, there := topics[topic]; !there {
			break
		}
		if time.Now().After(deadline) {
			fail("topic %s still listed 10 s after DeleteTopics", topic)
		}
	}
	admin.Close()
	ok("deleted topic %s; it is no longer listed", topic)
}
