"""sekrets.api: the pyswark.sekrets API (get, getDb, getHub, Db, Hub) on a real daemon,
the pyswark test scenario, and the migration of a .gluedb file with sekrets-cli import."""

import datetime
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

import sekrets
from sekrets import api
from sekrets_testlib import DaemonTest, SEKRETS_CLI

WOODY = {"sekret": "reach for the sky", "description": "a cowboy doll"}
BUZZ = {"sekret": "to infinity and beyond", "description": "a space ranger"}


class TestPyswarkScenario(DaemonTest):
    """pyswark's own test: records woody and buzz in protocol TEST."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        db = api.getDb("TEST")
        db.post(WOODY, "woody")
        db.post(BUZZ, "buzz")

    def test_get_with_protocol(self):
        self.assertEqual(api.get("woody", "TEST"), WOODY)

    def test_get_without_protocol(self):
        self.assertEqual(api.get("buzz"), BUZZ)

    def test_names_in_creation_order(self):
        self.assertEqual(api.getDb("TEST").getNames(), ["woody", "buzz"])

    def test_contains(self):
        self.assertTrue("woody" in api.getDb("TEST"))
        self.assertFalse("rex" in api.getDb("TEST"))

    def test_hub(self):
        hub = api.getHub()
        self.assertEqual(hub.getNames(), ["TEST"])
        self.assertEqual(hub.extract("TEST").getNames(), ["woody", "buzz"])
        self.assertEqual(hub.extractFromDb("TEST", "buzz"), BUZZ)


class TestApi(DaemonTest):
    def test_db_record(self):
        t0 = int(time.time())
        db = api.getDb("db1")
        self.assertEqual(db.protocol, "db1")
        self.assertEqual((db.getNames(), len(db), list(db)), ([], 0, []))
        self.assertIsNone(db.get("alice"))
        rec = db.post({"client_id": "123", "client_secret": "abc"}, "alice")
        self.assertIsInstance(rec, api.Record)
        self.assertEqual((rec.info.name, rec.info.protocol, rec.name), ("alice", "db1", "alice"))
        self.assertEqual(rec.body, {"client_id": "123", "client_secret": "abc"})
        self.assertEqual(rec.extract(), rec.body)
        self.assertIsInstance(rec.info.date_created, datetime.datetime)
        self.assertEqual(rec.info.date_created.tzinfo, datetime.timezone.utc)
        self.assertLessEqual(abs(rec.info.date_created.timestamp() - t0), 5)
        self.assertEqual(rec.info.date_created, rec.info.date_modified)
        self.assertNotIn("abc", repr(rec))
        self.assertEqual(db.get("alice"), rec)
        self.assertEqual(db.getByName("alice"), rec)
        self.assertEqual(db.extract("alice"), {"client_id": "123", "client_secret": "abc"})
        with self.assertRaises(sekrets.Exists):
            db.post({}, "alice")
        self.assertEqual(db.put({"k": 1}, "bob").body, {"k": 1})
        time.sleep(1.1)                           # modified moves by a whole second
        rec2 = db.put({"client_id": "456"}, "alice")
        self.assertEqual(rec2.body, {"client_id": "456"})
        self.assertEqual(rec2.info.date_created, rec.info.date_created)
        self.assertGreater(rec2.info.date_modified, rec.info.date_modified)
        self.assertEqual(db.getNames(), ["alice", "bob"])         # put kept alice's place
        self.assertEqual((len(db), list(db), "bob" in db), (2, ["alice", "bob"], True))
        self.assertEqual([r.name for r in db.getAll()], ["alice", "bob"])
        self.assertEqual(db.getAll()[0], rec2)
        self.assertIs(db.delete("alice"), True)
        self.assertIs(db.delete("alice"), False)
        self.assertIs(db.deleteByName("bob"), True)
        self.assertEqual(db.getNames(), [])
        with self.assertRaises(sekrets.NotFound):
            db.extract("alice")

    def test_reposted_name_goes_last(self):
        db = api.getDb("order")
        for n in ("a", "b", "c"):
            db.post({}, n)
        db.delete("a")
        db.post({}, "a")
        self.assertEqual(db.getNames(), ["b", "c", "a"])

    def test_get_errors(self):
        api.getDb("amb-x").put({"v": 1}, "twin")
        api.getDb("amb-y").put({"v": 2}, "twin")
        with self.assertRaises(sekrets.Ambiguous):
            api.get("twin")
        self.assertEqual(api.get("twin", "amb-y"), {"v": 2})
        with self.assertRaises(sekrets.NotFound):
            api.get("nobody-at-all")
        with self.assertRaises(sekrets.NotFound):
            api.get("twin", "amb-z")
        with self.assertRaises(sekrets.InvalidArgument):
            api.getDb("bad protocol")

    def test_hub_object(self):
        api.getDb("hub-2").put({}, "x")
        api.getDb("hub-1").put({}, "x")
        api.getDb("hub-1").put({}, "y")
        hub = api.getHub()
        names = hub.getNames()
        self.assertEqual(names, sorted(names))
        self.assertEqual(hub.getCounts()["hub-1"], 2)
        self.assertEqual(hub.getCounts()["hub-2"], 1)
        self.assertIn("hub-1", hub)
        self.assertNotIn("hub-3", hub)
        self.assertEqual(list(hub), names)
        self.assertEqual(len(hub), len(names))
        db = hub.extract("hub-1")
        self.assertIsInstance(db, api.Db)
        self.assertEqual(db.getNames(), ["x", "y"])
        with self.assertRaises(sekrets.NotFound):
            hub.extract("hub-3")
        self.assertEqual(hub.extractFromDb("hub-2", "x"), {})
        with self.assertRaises(sekrets.NotFound):
            hub.extractFromDb("hub-2", "zz")

    def test_explicit_client(self):
        with self.daemon.client() as c:
            api.getDb("explicit", client=c).put({"a": 1}, "n")
            self.assertEqual(api.get("n", "explicit", client=c), {"a": 1})
            self.assertEqual(api.getHub(client=c).extract("explicit").getNames(), ["n"])
            self.assertIs(api.getDb("explicit", client=c).client, c)

    def test_shared_client_per_thread_and_path(self):
        a = api.client()
        self.assertIs(api.client(), a)
        self.assertEqual(a.path, self.daemon.socket)
        other = []
        t = threading.Thread(target=lambda: other.append(api.client()))
        t.start()
        t.join()
        self.assertIsNot(other[0], a)
        old = os.environ["SEKRETS_SOCKET"]
        try:
            os.environ["SEKRETS_SOCKET"] = "/nonexistent/s.sock"
            self.assertEqual(api.client().path, "/nonexistent/s.sock")
            with self.assertRaises(sekrets.ConnectError):
                api.get("x")
        finally:
            os.environ["SEKRETS_SOCKET"] = old
        self.assertIs(api.client(), a)


GLUEDB = {
    "model": "pyswark.gluedb.db.Db",
    "contents": {"records": [
        {"info": {"name": "woody", "date_created": "2024-01-02T03:04:05+00:00",
                  "date_modified": "2024-01-02T03:04:05+00:00"},
         "body": {"model": "pyswark.sekrets.models.generic.Sekret", "contents": WOODY}},
        {"info": {"name": "buzz", "date_created": "2024-01-02T03:04:05+00:00",
                  "date_modified": "2024-01-02T03:04:05+00:00"},
         "body": {"model": "pyswark.sekrets.models.generic.Sekret", "contents": BUZZ}},
    ]},
}


@unittest.skipUnless(SEKRETS_CLI, "SEKRETS_CLI is not set")
class TestMigrationFromGluedb(DaemonTest):
    """The README's migration: sekrets-cli import of a pyswark .gluedb, then the same
    calls as under pyswark."""

    def test_import_then_api(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "TEST.gluedb")
            with open(path, "w") as f:
                json.dump(GLUEDB, f)
            out = subprocess.run([SEKRETS_CLI, "import", path, "-p", "TEST"],
                                 capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, SEKRETS_SOCKET=self.daemon.socket))
            self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(api.get("woody", "TEST"), WOODY)
        self.assertEqual(api.get("buzz"), BUZZ)
        self.assertEqual(api.getDb("TEST").getNames(), ["woody", "buzz"])
        self.assertTrue("woody" in api.getDb("TEST"))


if __name__ == "__main__":
    unittest.main()
